-- AlterEnum
ALTER TYPE "FhirExportStatus" ADD VALUE 'EXPIRED';
