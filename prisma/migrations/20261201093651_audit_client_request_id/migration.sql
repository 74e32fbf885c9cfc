-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "clientRequestId" TEXT;
