-- CreateEnum
CREATE TYPE "ConsentStatus" AS ENUM ('GRANTED', 'WITHDRAWN');

-- CreateEnum
CREATE TYPE "AuditOutcome" AS ENUM ('SUCCESS', 'DENIED', 'ERROR');

-- AlterTable
ALTER TABLE "Patient" ADD COLUMN     "aiConsent" "ConsentStatus" NOT NULL DEFAULT 'GRANTED',
ADD COLUMN     "aiConsentUpdatedAt" TIMESTAMPTZ(3),
ADD COLUMN     "mergedIntoId" UUID;

-- CreateTable
CREATE TABLE "ConsentRecord" (
    "id" UUID NOT NULL,
    "patientId" UUID NOT NULL,
    "status" "ConsentStatus" NOT NULL,
    "note" TEXT,
    "recordedBy" TEXT NOT NULL,
    "recordedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ConsentRecord_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CareTeamMember" (
    "patientId" UUID NOT NULL,
    "clinicianSubject" TEXT NOT NULL,
    "addedBy" TEXT NOT NULL,
    "addedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CareTeamMember_pkey" PRIMARY KEY ("patientId","clinicianSubject")
);

-- CreateTable
CREATE TABLE "BreakGlassGrant" (
    "id" UUID NOT NULL,
    "clinicianSubject" TEXT NOT NULL,
    "patientId" UUID NOT NULL,
    "reason" TEXT NOT NULL,
    "grantedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "BreakGlassGrant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "sequence" BIGINT NOT NULL,
    "id" UUID NOT NULL,
    "recordedAt" TIMESTAMPTZ(3) NOT NULL,
    "actorSubject" TEXT NOT NULL,
    "actorRoles" TEXT[],
    "action" TEXT NOT NULL,
    "outcome" "AuditOutcome" NOT NULL,
    "resourceType" TEXT,
    "resourceIds" TEXT[],
    "patientIds" TEXT[],
    "purposeOfUse" TEXT NOT NULL,
    "breakGlass" BOOLEAN NOT NULL DEFAULT false,
    "reason" TEXT,
    "requestId" TEXT,
    "operationName" TEXT,
    "queryHash" TEXT,
    "clientAddress" TEXT,
    "userAgent" TEXT,
    "previousHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("sequence")
);

-- CreateIndex
CREATE INDEX "ConsentRecord_patientId_recordedAt_idx" ON "ConsentRecord"("patientId", "recordedAt");

-- CreateIndex
CREATE INDEX "CareTeamMember_clinicianSubject_patientId_idx" ON "CareTeamMember"("clinicianSubject", "patientId");

-- CreateIndex
CREATE INDEX "BreakGlassGrant_clinicianSubject_patientId_expiresAt_idx" ON "BreakGlassGrant"("clinicianSubject", "patientId", "expiresAt");

-- CreateIndex
CREATE INDEX "BreakGlassGrant_grantedAt_idx" ON "BreakGlassGrant"("grantedAt");

-- CreateIndex
CREATE UNIQUE INDEX "AuditEvent_id_key" ON "AuditEvent"("id");

-- CreateIndex
CREATE INDEX "AuditEvent_actorSubject_sequence_idx" ON "AuditEvent"("actorSubject", "sequence");

-- CreateIndex
CREATE INDEX "AuditEvent_action_sequence_idx" ON "AuditEvent"("action", "sequence");

-- CreateIndex
CREATE INDEX "AuditEvent_recordedAt_idx" ON "AuditEvent"("recordedAt");

-- CreateIndex
CREATE INDEX "AuditEvent_patientIds_idx" ON "AuditEvent" USING GIN ("patientIds");

-- AddForeignKey
ALTER TABLE "ConsentRecord" ADD CONSTRAINT "ConsentRecord_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES "Patient"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CareTeamMember" ADD CONSTRAINT "CareTeamMember_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES "Patient"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "BreakGlassGrant" ADD CONSTRAINT "BreakGlassGrant_patientId_fkey" FOREIGN KEY ("patientId") REFERENCES "Patient"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The audit log is append-only: the database itself refuses to change or
-- remove its rows, whoever asks (written by hand: the Prisma schema has no triggers).
CREATE FUNCTION "audit_event_append_only"() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'AuditEvent is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER "AuditEvent_no_update_or_delete" BEFORE UPDATE OR DELETE ON "AuditEvent"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();

CREATE TRIGGER "AuditEvent_no_truncate" BEFORE TRUNCATE ON "AuditEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
