-- AlterTable
ALTER TABLE "Case" ADD COLUMN     "startedAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "PatientImporter" (
    "patientId" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "firstImportedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PatientImporter_pkey" PRIMARY KEY ("patientId","subject")
);

-- CreateIndex
CREATE INDEX "PatientImporter_subject_idx" ON "PatientImporter"("subject");

-- AddForeignKey
ALTER TABLE "PatientImporter" ADD CONSTRAINT "PatientImporter_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES "Patient"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The clients whose imports stored identifiers before this table existed keep reaching those patients.
INSERT INTO "PatientImporter" ("patientId", "subject", "firstImportedAt")
SELECT f."patientId", f."createdBy", min(f."createdAt") FROM "FhirIdentifier" f
WHERE EXISTS (SELECT 1 FROM "Patient" p WHERE p.id = f."patientId")
GROUP BY f."patientId", f."createdBy"
ON CONFLICT DO NOTHING;
