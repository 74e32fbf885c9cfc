-- CreateTable
CREATE TABLE "FhirIdentifier" (
    "resourceType" TEXT NOT NULL,
    "system" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "targetId" UUID NOT NULL,
    "patientId" UUID NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FhirIdentifier_pkey" PRIMARY KEY ("resourceType","system","value")
);

-- CreateIndex
CREATE INDEX "FhirIdentifier_targetId_idx" ON "FhirIdentifier"("targetId");
