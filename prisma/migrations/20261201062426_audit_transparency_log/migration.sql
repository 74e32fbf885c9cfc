-- The audit log becomes a transparency log (RFC 9162 Merkle tree, signed
-- checkpoints). Writers insert entries without any lock; the sequencer gives
-- each committed entry its final position (AuditLeaf) and signs the tree.
-- The hash chain's records stay, in their order: they all receive this
-- migration's transaction id, so the first integration takes them by sequence.

-- AlterTable
CREATE SEQUENCE auditevent_sequence_seq;
ALTER TABLE "AuditEvent" DROP COLUMN "hash",
DROP COLUMN "previousHash",
ADD COLUMN     "transactionId" BIGINT NOT NULL DEFAULT ((pg_current_xact_id())::text)::bigint,
ALTER COLUMN "sequence" SET DEFAULT nextval('auditevent_sequence_seq');
ALTER SEQUENCE auditevent_sequence_seq OWNED BY "AuditEvent"."sequence";
SELECT setval('auditevent_sequence_seq', COALESCE(max("sequence"), 0) + 1, false) FROM "AuditEvent";

-- CreateTable
CREATE TABLE "AuditLeaf" (
    "position" BIGINT NOT NULL,
    "eventSequence" BIGINT NOT NULL,

    CONSTRAINT "AuditLeaf_pkey" PRIMARY KEY ("position")
);

-- CreateTable
CREATE TABLE "AuditTreeNode" (
    "level" SMALLINT NOT NULL,
    "index" BIGINT NOT NULL,
    "hash" BYTEA NOT NULL,

    CONSTRAINT "AuditTreeNode_pkey" PRIMARY KEY ("level","index")
);

-- CreateTable
CREATE TABLE "AuditCheckpoint" (
    "treeSize" BIGINT NOT NULL,
    "rootHash" BYTEA NOT NULL,
    "note" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditCheckpoint_pkey" PRIMARY KEY ("treeSize")
);

-- CreateIndex
CREATE UNIQUE INDEX "AuditLeaf_eventSequence_key" ON "AuditLeaf"("eventSequence");

-- CreateIndex
CREATE INDEX "AuditEvent_transactionId_sequence_idx" ON "AuditEvent"("transactionId", "sequence");

-- The tree and its checkpoints are append-only like the entries (written by hand:
-- the Prisma schema has no triggers).
CREATE OR REPLACE FUNCTION "audit_event_append_only"() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER "AuditLeaf_no_update_or_delete" BEFORE UPDATE OR DELETE ON "AuditLeaf"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditLeaf_no_truncate" BEFORE TRUNCATE ON "AuditLeaf"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditTreeNode_no_update_or_delete" BEFORE UPDATE OR DELETE ON "AuditTreeNode"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditTreeNode_no_truncate" BEFORE TRUNCATE ON "AuditTreeNode"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditCheckpoint_no_update_or_delete" BEFORE UPDATE OR DELETE ON "AuditCheckpoint"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditCheckpoint_no_truncate" BEFORE TRUNCATE ON "AuditCheckpoint"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
