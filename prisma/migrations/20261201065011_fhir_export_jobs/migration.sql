-- CreateEnum
CREATE TYPE "FhirExportStatus" AS ENUM ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED');

-- CreateTable
CREATE TABLE "FhirExportJob" (
    "id" UUID NOT NULL,
    "status" "FhirExportStatus" NOT NULL DEFAULT 'QUEUED',
    "level" TEXT NOT NULL,
    "types" TEXT[],
    "since" TIMESTAMPTZ(3),
    "profile" TEXT NOT NULL,
    "requestUrl" TEXT NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "requestedRoles" TEXT[],
    "purposeOfUse" TEXT NOT NULL,
    "progress" TEXT,
    "error" TEXT,
    "report" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "FhirExportJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FhirExportFile" (
    "jobId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "count" INTEGER NOT NULL,
    "ndjson" TEXT NOT NULL,

    CONSTRAINT "FhirExportFile_pkey" PRIMARY KEY ("jobId","type")
);

-- CreateIndex
CREATE INDEX "FhirExportJob_requestedBy_createdAt_idx" ON "FhirExportJob"("requestedBy", "createdAt");

-- CreateIndex
CREATE INDEX "FhirExportJob_status_idx" ON "FhirExportJob"("status");

-- AddForeignKey
ALTER TABLE "FhirExportFile" ADD CONSTRAINT "FhirExportFile_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "FhirExportJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;
