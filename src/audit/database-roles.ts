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

/** An audit table the connected role could rewrite, and what lets it. */
export interface RewritableAuditTable {
  table: string;
  /** `owner` (it owns the table, is a member of its owner or is a superuser), else the rights it holds beyond INSERT and SELECT. */
  rights: string[];
}

/**
 * The audit tables the connected role could rewrite: those it owns (or whose
 * owner role it is a member of, or all of them when it is a superuser), and
 * those on which it holds UPDATE (on any column), DELETE, TRUNCATE or
 * TRIGGER, granted to it directly, through a role it belongs to, or to
 * PUBLIC. The migration role's grants revoke direct grants at every start,
 * but not what a membership or PUBLIC brings, nor anything when there is one
 * role.
 */
export async function rewritableAuditTables(prisma: PrismaClient): Promise<RewritableAuditTable[]> {
  const rows = await prisma.$queryRawUnsafe<{ name: string; owner: boolean; rights: string[] }[]>(
    `SELECT c.relname AS name,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
            array_remove(ARRAY[
              CASE WHEN has_any_column_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
              CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
              CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
              CASE WHEN has_table_privilege(c.oid, 'TRIGGER') THEN 'TRIGGER' END], NULL) AS rights
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[])
      ORDER BY c.relname`,
    [...auditTables],
  );
  return rows.filter((row) => row.owner || row.rights.length > 0).map((row) => ({ table: row.name, rights: row.owner ? ['owner'] : row.rights }));
}

/** The role a PostgreSQL URL logs in as. */
export const roleOf = (url: string) => decodeURIComponent(new URL(url).username) || process.env.PGUSER || process.env.USER || 'postgres';
