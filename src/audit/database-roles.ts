import type { PrismaClient } from '../generated/prisma/client.ts';

/*
 * Two PostgreSQL roles: a migration role that owns the tables (it runs the
 * migrations, DATABASE_MIGRATION_URL) and the server's role (DATABASE_URL),
 * which may read and write the clinical tables but only INSERT and SELECT
 * the audit tables. A table's owner can disable its triggers, alter it and
 * grant itself anything, so a server whose role owned the audit tables could
 * rewrite history; with this split only the owner (kept off the servers) can,
 * and the signed checkpoints catch what it does.
 */

export const auditTables = ['AuditEvent', 'AuditLeaf', 'AuditTreeNode', 'AuditCheckpoint'] as const;

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Grants the server's role what it needs, as the owner (idempotent; run after
 * every migration): all rights on the clinical tables, INSERT and SELECT on
 * the audit tables and nothing more, SELECT on the migration history, and the
 * sequences.
 * @param owner a client connected as the migration role
 */
export async function grantServerRole(owner: PrismaClient, serverRole: string): Promise<void> {
  const role = quoteIdentifier(serverRole);
  const audit = auditTables.map(quoteIdentifier).join(', ');
  for (const statement of [
    `GRANT USAGE ON SCHEMA public TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
    `REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ${audit} FROM ${role}`,
    `REVOKE INSERT, UPDATE, DELETE ON "_prisma_migrations" FROM ${role}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`,
  ]) {
    await owner.$executeRawUnsafe(statement);
  }
}

/**
 * The audit tables the connected role could rewrite: those it owns (or whose
 * owner role it is a member of), or all of them when it is a superuser.
 */
export async function auditTablesWritableByOwner(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.$queryRawUnsafe<{ name: string }[]>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[])
        AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role(current_user, c.relowner, 'USAGE'))
      ORDER BY c.relname`,
    [...auditTables],
  );
  return rows.map((row) => row.name);
}

/** The role a PostgreSQL URL logs in as. */
export const roleOf = (url: string) => decodeURIComponent(new URL(url).username) || process.env.PGUSER || process.env.USER || 'postgres';
