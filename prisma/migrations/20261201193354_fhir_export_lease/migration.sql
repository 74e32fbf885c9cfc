-- AlterTable
ALTER TABLE "FhirExportJob" ADD COLUMN     "leaseUntil" TIMESTAMPTZ(3),
ADD COLUMN     "owner" TEXT;
