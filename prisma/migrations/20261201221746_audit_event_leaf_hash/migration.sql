-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "leafHash" BYTEA;
