import { type DestinationStream, pino, type Logger } from 'pino';

/**
 * The process logger: JSON lines for log collectors. Patient data never goes
 * in: resolvers do not log arguments, and the paths below are removed in case
 * an object that holds them is logged by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'clinigraph' },
    redact: {
      paths: ['variables', '*.variables', 'req.headers.authorization', 'headers.authorization', '*.mrn', '*.givenName', '*.familyName', '*.birthDate'],
      remove: true,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
