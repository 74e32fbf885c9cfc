import net from 'node:net';

/**
 * How the proxy behaves while down:
 * - `refuse`: the listening socket is closed, so connection attempts get
 *   ECONNREFUSED, as while a database server is stopped or restarting;
 * - `blackhole`: as across a network partition, nothing gets through and
 *   nothing is closed: open connections stay open but go silent, new ones are
 *   accepted and not answered; only the client's own timeouts end them. When
 *   the proxy comes back up, the connections still open carry on, with what
 *   was sent meanwhile.
 * In `refuse` mode the connections open when the proxy goes down are
 * destroyed (unless `keepOpen`).
 */
export type DownMode = 'refuse' | 'blackhole';

export interface TcpProxy {
  host: string;
  /** The proxy's port; stays the same across down() and up(). */
  port: number;
  /** The given URL (e.g. a postgresql:// URL) with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Client connections currently open through the proxy (relayed or held). */
  readonly connections: number;
  /**
   * Refuses (or swallows) new connections and destroys every open one, unless
   * `keepOpen` (then `dropConnections` ends them later, e.g. after the
   * database server itself closed them with a message).
   */
  down(mode?: DownMode, options?: { keepOpen?: boolean }): Promise<void>;
  /** Destroys every open connection (relayed or swallowed). */
  dropConnections(): void;
  /** Relays new connections again. */
  up(): Promise<void>;
  /** Stops for good. */
  close(): Promise<void>;
}

/**
 * A TCP relay on loopback in front of a server (PostgreSQL in the tests), which
 * a test takes down and brings back to simulate the server restarting or
 * becoming unreachable, without touching the real server.
 */
export async function startTcpProxy(target: { host: string; port: number }, host = '127.0.0.1'): Promise<TcpProxy> {
  const relayed = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  let mode: DownMode | undefined;
  let closed = false;

  /** Each relayed client connection and its upstream connection. */
  const pairs = new Map<net.Socket, net.Socket>();
  const connectPair = (client: net.Socket, upstream: net.Socket) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const freezePair = (client: net.Socket, upstream: net.Socket) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  const relay = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    relayed.add(client);
    relayed.add(upstream);
    clients.add(client);
    pairs.set(client, upstream);
    client.on('close', () => {
      relayed.delete(client);
      clients.delete(client);
      pairs.delete(client);
    });
    upstream.on('close', () => relayed.delete(upstream));
    connectPair(client, upstream);
  };

  const onConnection = (client: net.Socket) => {
    client.on('error', () => {});
    if (closed) {
      client.destroy();
      return;
    }
    if (mode === 'blackhole') {
      // Accepted but not read: what the client sent waits, as across a partition.
      client.pause();
      held.add(client);
      client.on('close', () => held.delete(client));
      return;
    }
    relay(client);
  };

  let server = net.createServer(onConnection);
  await listen(server, 0, host);
  const port = (server.address() as net.AddressInfo).port;
  let listening = true;

  const destroyAll = () => {
    for (const socket of [...relayed, ...held]) socket.destroy();
  };

  return {
    host,
    port,
    rewrite(url) {
      const rewritten = new URL(url);
      rewritten.hostname = host;
      rewritten.port = String(port);
      return rewritten.toString();
    },
    get connections() {
      return clients.size + held.size;
    },
    async down(downMode = 'refuse', { keepOpen = false } = {}) {
      mode = downMode;
      if (downMode === 'blackhole') for (const [client, upstream] of pairs) freezePair(client, upstream);
      else if (!keepOpen) destroyAll();
      if (downMode === 'refuse' && listening) {
        listening = false;
        // close() stops accepting at once; its callback waits for open connections to end.
        server.close();
      }
    },
    dropConnections: destroyAll,
    async up() {
      const wasPartitioned = mode === 'blackhole';
      mode = undefined;
      // A partition heals: open connections carry on, those that waited are relayed now.
      if (wasPartitioned) for (const [client, upstream] of pairs) connectPair(client, upstream);
      for (const socket of held) relay(socket);
      held.clear();
      if (!listening) {
        // Same port again, as a restarted database server would have; a closed
        // listening socket leaves no TIME_WAIT behind, so the port is free
        // unless another process took it meanwhile (then this throws).
        server = net.createServer(onConnection);
        await listen(server, port, host);
        listening = true;
      }
    },
    async close() {
      closed = true;
      destroyAll();
      if (listening) {
        listening = false;
        server.close();
      }
    },
  };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
