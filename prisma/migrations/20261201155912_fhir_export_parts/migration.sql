-- CreateTable
CREATE TABLE "FhirExportPart" (
    "jobId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "ndjson" TEXT NOT NULL,

    CONSTRAINT "FhirExportPart_pkey" PRIMARY KEY ("jobId","type","seq")
);

-- AddForeignKey
ALTER TABLE "FhirExportPart" ADD CONSTRAINT "FhirExportPart_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "FhirExportJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The files of exports completed before parts existed stay downloadable: each becomes its one part.
INSERT INTO "FhirExportPart" ("jobId", "type", "seq", "ndjson") SELECT "jobId", "type", 0, "ndjson" FROM "FhirExportFile";

-- AlterTable
ALTER TABLE "FhirExportFile" DROP COLUMN "ndjson";
