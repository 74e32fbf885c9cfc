#!/usr/bin/env tsx
/**
 * Starts clinigraph: reads the configuration, opens the database (embedded
 * unless DATABASE_URL is set), applies pending migrations, loads the demo data
 * into an empty database, and serves the GraphQL API until SIGINT/SIGTERM.
 */
import 'dotenv/config';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';
import { createLogger } from './logger.ts';
import { startServer } from './start.ts';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

const config = readConfig();
const log = createLogger(config.logLevel);
const started = Date.now();

try {
  const server = await startServer(config, log);
  log.info({ url: server.url, database: server.databaseKind, startupMs: Date.now() - started }, 'clinigraph is ready');
  console.log(`clinigraph GraphQL API: ${server.url}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  log.fatal({ errorType: (error as Error).name, message: (error as Error).message }, 'clinigraph failed to start');
  process.exit(1);
}
