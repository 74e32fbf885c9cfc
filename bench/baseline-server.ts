/**
 * The read-path baseline: a bare Apollo Server 5 on Fastify 5 (the same
 * HTTP stack and integration as clinigraph, @as-integrations/fastify) over
 * clinigraph's own schema (schema.graphql), answering from one in-memory
 * patient object: no authentication, no database, no audit, no limits.
 *
 * BASELINE_DATA: JSON file with the `patient` object to serve (the bench
 * writes clinigraph's own answer there, so both return the same bytes).
 * BASELINE_VARIANT:
 *   default  new ApolloServer({ typeDefs, resolvers }) with every default
 *            (run without NODE_ENV, so development defaults; cache-control
 *            plugin on, landing page on, CSRF prevention on)
 *   tuned    the same with ApolloServerPluginCacheControlDisabled(), run
 *            with NODE_ENV=production (the bench sets it)
 */
import { readFileSync } from 'node:fs';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify from 'fastify';

const variant = process.env.BASELINE_VARIANT ?? 'default';
const patient = JSON.parse(readFileSync(process.env.BASELINE_DATA!, 'utf8')) as { id: string };
const typeDefs = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');

const resolvers = {
  Query: {
    patient: (_: unknown, { id }: { id: string }) => (id === patient.id ? patient : null),
  },
};

const http = Fastify();
const plugins: ApolloServerPlugin[] = [fastifyApolloDrainPlugin(http)];
if (variant === 'tuned') plugins.push(ApolloServerPluginCacheControlDisabled());
const apollo = new ApolloServer({ typeDefs, resolvers, plugins });
await apollo.start();
http.route({ method: ['GET', 'POST'], url: '/graphql', handler: fastifyApolloHandler(apollo) });
await http.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = http.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
console.log(`baseline (${variant}) GraphQL API: http://127.0.0.1:${port}/graphql`);

const stop = async () => {
  await apollo.stop();
  await http.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
