-- DropForeignKey
ALTER TABLE "CareTeamMember" DROP CONSTRAINT "CareTeamMember_patientId_fkey";

-- DropIndex
DROP INDEX "Patient_createdAt_id_idx";

-- AlterTable: the column filled from the patients before it becomes required.
ALTER TABLE "CareTeamMember" ADD COLUMN     "patientCreatedAt" TIMESTAMPTZ(3);
UPDATE "CareTeamMember" m SET "patientCreatedAt" = p."createdAt" FROM "Patient" p WHERE p.id = m."patientId";
ALTER TABLE "CareTeamMember" ALTER COLUMN "patientCreatedAt" SET NOT NULL;

-- CreateIndex
CREATE INDEX "CareTeamMember_clinicianSubject_patientCreatedAt_patientId_idx" ON "CareTeamMember"("clinicianSubject", "patientCreatedAt", "patientId");

-- CreateIndex
CREATE UNIQUE INDEX "Patient_createdAt_id_key" ON "Patient"("createdAt", "id");

-- AddForeignKey
ALTER TABLE "CareTeamMember" ADD CONSTRAINT "CareTeamMember_patientCreatedAt_patientId_fkey" FOREIGN KEY ("patientCreatedAt", "patientId") REFERENCES "Patient"("createdAt", "id") ON DELETE RESTRICT ON UPDATE CASCADE;
