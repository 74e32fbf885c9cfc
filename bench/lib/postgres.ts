import { randomBytes } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { applyMigrations } from '../../src/db/migrations.ts';

/**
 * The benchmark's own databases on the shared PostgreSQL server: a template
 * migrated once per run, copied (CREATE DATABASE ... TEMPLATE) for each
 * benchmark, all named clinigraph_bench_<run>_* and all dropped at the end,
 * also when the run fails. The server itself is never stopped or reconfigured.
 */
export class BenchDatabases {
  readonly run = `clinigraph_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  private template: Promise<string> | undefined;
  private readonly made: string[] = [];

  constructor(readonly serverUrl: string) {}

  /** A URL of the named database on the benchmark's server. */
  url(name: string): string {
    const url = new URL(this.serverUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** A new, migrated, empty database; its name ends with `suffix`. */
  async create(suffix: string): Promise<string> {
    const template = await (this.template ??= this.buildTemplate());
    const name = `${this.run}_${suffix}`;
    await adminQuery(this.serverUrl, `CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    this.made.push(name);
    return this.url(name);
  }

  /** A new database without any migration: the server given it applies its own at start (another checkout's, e.g.). */
  async createEmpty(suffix: string): Promise<string> {
    const name = `${this.run}_${suffix}`;
    await adminQuery(this.serverUrl, `CREATE DATABASE "${name}"`);
    this.made.push(name);
    return this.url(name);
  }

  /** Drops every database this run made (the template too). */
  async dropAll(): Promise<string[]> {
    const dropped: string[] = [];
    for (const name of this.made.reverse()) {
      await adminQuery(this.serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).then(
        () => dropped.push(name),
        (error: Error) => console.error(`could not drop ${name}: ${error.message}`),
      );
    }
    this.made.length = 0;
    return dropped;
  }

  private async buildTemplate(): Promise<string> {
    const name = `${this.run}_tpl`;
    await adminQuery(this.serverUrl, `CREATE DATABASE "${name}"`);
    this.made.push(name);
    // A pool of our own, ended here: a template must have no open connections when it is copied.
    const pool = new pg.Pool({ connectionString: this.url(name), max: 1 });
    try {
      await applyMigrations(new PrismaPg(pool));
    } finally {
      await pool.end();
    }
    return name;
  }
}

/** Runs one statement on a short-lived connection. */
export async function adminQuery(url: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/** Whether a PostgreSQL server answers at the URL (the benchmark needs one). */
export async function postgresAnswers(url: string): Promise<boolean> {
  return adminQuery(url, 'SELECT 1').then(
    () => true,
    () => false,
  );
}
