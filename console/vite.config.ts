import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * Two separate builds from console/: the console (served at /console/) and
 * GraphiQL (served at /graphiql/ only when CONSOLE_GRAPHIQL is on), so turning
 * GraphiQL off removes every file of it. `CONSOLE_APP=graphiql vite build`
 * builds the second.
 */
const app = process.env.CONSOLE_APP === 'graphiql' ? 'graphiql' : 'console';
const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export default defineConfig({
  root: here(app === 'console' ? './app' : './graphiql'),
  base: app === 'console' ? '/console/' : '/graphiql/',
  plugins: [react()],
  build: {
    outDir: here(`./dist/${app}`),
    emptyOutDir: true,
    // .vite/manifest.json: which chunks each entry and each lazy page loads (bench/console.ts reads it).
    manifest: true,
    // Everything is served by clinigraph as files: no inlined data: scripts, small assets stay files too.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      input:
        app === 'console'
          ? { main: here('./app/index.html'), silentRenew: here('./app/silent-renew.html') }
          : { main: here('./graphiql/index.html') },
    },
  },
  server: {
    // `npm run dev:console`: the console with hot reload, talking to a running clinigraph on :4000.
    proxy: { '/graphql': 'http://127.0.0.1:4000', '/console/config.json': 'http://127.0.0.1:4000', '/console/dev-token': 'http://127.0.0.1:4000' },
  },
});
