import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting of the server, read from the environment (and an optional
 * `.env` file) once at start and validated here, so a bad value stops the
 * process with a clear message instead of failing later. `.env.example`
 * documents each one.
 */
const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const settingsSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  MIGRATE_ON_START: booleanFlag.default(true),
  DEMO_DATA: booleanFlag.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(100),
});

export type Settings = z.infer<typeof settingsSchema>;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** PostgreSQL URL; undefined means the embedded database under dataDir. */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  migrateOnStart: boolean;
  /** Load the fictitious demo patients on first start of an empty database. */
  demoData: boolean;
  logLevel: Settings['LOG_LEVEL'];
  maxPageSize: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates the environment and returns the configuration.
 * @param env the variables to read (process.env by default; tests pass their own)
 * @throws ConfigError naming every bad setting
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const s = parsed.data;
  return {
    port: s.PORT,
    host: s.HOST,
    dataDir: path.resolve(s.DATA_DIR),
    databaseUrl: s.DATABASE_URL,
    databasePoolSize: s.DATABASE_POOL_SIZE,
    migrateOnStart: s.MIGRATE_ON_START,
    demoData: s.DEMO_DATA ?? true,
    logLevel: s.LOG_LEVEL,
    maxPageSize: s.MAX_PAGE_SIZE,
  };
}
