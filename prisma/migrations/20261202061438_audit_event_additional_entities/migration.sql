-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "additionalEntities" JSONB NOT NULL DEFAULT '[]';

-- CreateIndex
CREATE INDEX "AuditEvent_additionalEntities_idx" ON "AuditEvent" USING GIN ("additionalEntities" jsonb_path_ops);
