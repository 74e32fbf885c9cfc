import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { developmentKey, mintDevelopmentToken } from '../auth/development-key.ts';
import { purposesOfUse, roles } from '../access/principal.ts';
import type { Config } from '../config/config.ts';
import { errorBody, ErrorCode } from '../errors/errors.ts';

/*
 * The web console (/console/) and the GraphiQL explorer (/graphiql/), built by
 * `npm run build:console` from console/ into console/dist/. Everything they load
 * comes from here; the Content-Security-Policy (consoleContentSecurityPolicy)
 * lets nothing else in.
 */
export const consoleDistDir = fileURLToPath(new URL('../../console/dist/', import.meta.url));
const builtPage = (app: 'console' | 'graphiql') => `${consoleDistDir}${app}/index.html`;
const developmentTokenLifetime = '1h';

/**
 * The Content-Security-Policy of every answer (helmet's directives): scripts,
 * styles, fonts and images from this server only, no inline script, no eval;
 * the identity provider may be called (token endpoint) and framed (silent renew).
 */
export function consoleContentSecurityPolicy(config: Config) {
  const provider = config.console.oidc ? [new URL(config.console.oidc.issuer).origin] : [];
  return {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'", ...provider],
      frameSrc: ["'self'", ...provider],
      workerSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'", ...provider],
      frameAncestors: ["'self'"],
      ...(config.production ? { upgradeInsecureRequests: [] } : {}),
    },
  };
}

/**
 * Serves the console at /console/ (`/` redirects there), its settings at
 * /console/config.json, the development sign-in endpoint (development key
 * only) and, when configured, GraphiQL at /graphiql/.
 */
export async function registerConsole(http: FastifyInstance, config: Config, log: Logger): Promise<void> {
  http.get('/', (_request, reply) => reply.redirect('/console/'));
  http.get('/console', (_request, reply) => reply.redirect('/console/'));
  http.get('/console/config.json', async () => ({
    developmentSignIn: config.console.developmentSignIn,
    oidc: config.console.oidc ?? null,
    graphiql: config.console.graphiql,
    roles,
    purposesOfUse,
  }));
  if (config.console.developmentSignIn) registerDevelopmentSignIn(http, config);

  if (!existsSync(builtPage('console'))) {
    log.warn({ dir: consoleDistDir }, 'the console is not built (npm run build:console): /console/ answers 503');
    http.get('/console/*', async (_request, reply) => notBuilt(reply));
    return;
  }
  await http.register(fastifyStatic, {
    root: `${consoleDistDir}console`,
    prefix: '/console/',
    wildcard: false,
    index: false,
    // Vite puts a content hash in every asset's name, so assets never change; pages must be revalidated.
    setHeaders: (response, filePath) =>
      response.header('cache-control', filePath.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'),
  });
  // Client-side routes (e.g. /console/auditor) get the page; a missing asset stays a 404.
  http.get('/console/*', (request, reply) =>
    request.url.startsWith('/console/assets/') ? reply.callNotFound() : reply.header('cache-control', 'no-cache').sendFile('index.html'),
  );
  if (config.console.graphiql) {
    await http.register(fastifyStatic, { root: `${consoleDistDir}graphiql`, prefix: '/graphiql/', decorateReply: false });
    http.get('/graphiql', (_request, reply) => reply.redirect('/graphiql/'));
  }
}

/**
 * A preHandler for /graphql: a browser opening the endpoint (GET, HTML, no
 * query) is sent to GraphiQL before authentication, so a visit is no refused
 * token in the audit log. Returns undefined when GraphiQL is off.
 */
export function graphqlPageRedirect(config: Config) {
  if (!config.console.graphiql) return undefined;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (request.method === 'GET' && !query?.query && request.headers.accept?.includes('text/html')) {
      return reply.redirect('/graphiql/');
    }
  };
}

const developmentSignInRequest = z.strictObject({
  subject: z.string().trim().regex(/^[\w.@-]{1,64}$/, 'letters, digits, . _ @ - (at most 64)'),
  role: z.enum(roles),
  purposeOfUse: z.enum(purposesOfUse).optional(),
});

/** POST /console/dev-token: a token for any subject and role, signed with the development key (never in production). */
function registerDevelopmentSignIn(http: FastifyInstance, config: Config): void {
  // Loaded on first use: a failure then answers that request instead of surfacing as an unhandled rejection.
  let key: ReturnType<typeof developmentKey> | undefined;
  http.post('/console/dev-token', async (request, reply) => {
    const parsed = developmentSignInRequest.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return reply.code(400).send(errorBody(ErrorCode.BAD_USER_INPUT, `${issue.path.join('.') || 'body'}: ${issue.message}`, { field: issue.path.join('.') }));
    }
    const { subject, role, purposeOfUse } = parsed.data;
    key ??= developmentKey(config.dataDir).catch((error: unknown) => {
      key = undefined;
      throw error;
    });
    const token = await mintDevelopmentToken(await key, {
      subject,
      roles: [role],
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      expiresIn: developmentTokenLifetime,
      ...(purposeOfUse ? { extraClaims: { [config.auth.purposeClaim]: purposeOfUse } } : {}),
    });
    return { token };
  });
}

function notBuilt(reply: FastifyReply) {
  return reply.code(503).send(errorBody(ErrorCode.UNAVAILABLE, 'The console is not built: run `npm run build:console`.'));
}
