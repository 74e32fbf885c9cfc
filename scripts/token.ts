#!/usr/bin/env tsx
/**
 * Mints a development token signed with the local development key (DATA_DIR),
 * for trying the API:  npm run token -- --sub alice --role clinician
 * Refused in production mode and when an identity provider is configured:
 * then tokens come from that provider.
 */
import 'dotenv/config';
import { Command, Option } from 'commander';
import { developmentKey, mintDevelopmentToken } from '../src/auth/development-key.ts';
import { purposesOfUse, roles, type Role } from '../src/access/principal.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';

const program = new Command('token')
  .description('print a development bearer token for the clinigraph API')
  .requiredOption('--sub <subject>', 'who the token is for (e.g. a clinician id)')
  .addOption(new Option('--role <role...>', 'role(s) to carry').choices([...roles]).makeOptionMandatory())
  .option('--expires <duration>', 'lifetime, e.g. 30m, 8h', '8h')
  .addOption(new Option('--purpose <code>', 'purpose_of_use claim').choices([...purposesOfUse]))
  .action(async (options: { sub: string; role: Role[]; expires: string; purpose?: string }) => {
    const config = loadConfig();
    if (config.production || config.auth.keySource.kind !== 'development') {
      throw new ConfigError('development tokens are only for development mode without an identity provider');
    }
    const key = await developmentKey(config.dataDir);
    const token = await mintDevelopmentToken(key, {
      subject: options.sub,
      roles: options.role,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      expiresIn: options.expires,
      ...(options.purpose ? { extraClaims: { [config.auth.purposeClaim]: options.purpose } } : {}),
    });
    console.log(token);
  });

program.parseAsync().catch((error: Error) => {
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
});
