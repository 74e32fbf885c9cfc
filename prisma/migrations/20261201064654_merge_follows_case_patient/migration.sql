-- DropForeignKey
ALTER TABLE "CaseOutcome" DROP CONSTRAINT "CaseOutcome_caseId_fkey";

-- DropForeignKey
ALTER TABLE "Prediction" DROP CONSTRAINT "Prediction_caseId_fkey";

-- CreateIndex
CREATE UNIQUE INDEX "Case_id_patientId_key" ON "Case"("id", "patientId");

-- Repair the copies merges left behind before this key existed, so it can hold from now on.
UPDATE "Prediction" p SET "patientId" = c."patientId" FROM "Case" c WHERE c.id = p."caseId" AND p."patientId" <> c."patientId";
UPDATE "CaseOutcome" o SET "patientId" = c."patientId" FROM "Case" c WHERE c.id = o."caseId" AND o."patientId" <> c."patientId";

-- AddForeignKey
ALTER TABLE "Prediction" ADD CONSTRAINT "Prediction_caseId_patientId_fkey" FOREIGN KEY ("caseId", "patientId") REFERENCES "Case"("id", "patientId") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CaseOutcome" ADD CONSTRAINT "CaseOutcome_caseId_patientId_fkey" FOREIGN KEY ("caseId", "patientId") REFERENCES "Case"("id", "patientId") ON DELETE RESTRICT ON UPDATE CASCADE;
