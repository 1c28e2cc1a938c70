import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The coordinator serves the built page (dist/), the model files (/model/) and the tfjs wasm
// binaries (/tfjs-wasm/). `vite dev` proxies those and the socket to a coordinator on :8080.
const coordinator = process.env.TABFLEET_COORDINATOR ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  // The data-parallel workers (src/parallel/shard-worker.ts) are module workers with code-split chunks.
  worker: { format: 'es' },
  server: {
    proxy: {
      '/model': coordinator,
      '/tfjs-wasm': coordinator,
      '/api': coordinator,
      '/socket.io': { target: coordinator, ws: true },
    },
  },
});
