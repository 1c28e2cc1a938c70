import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built to dist/ and served by the coordinator under /dashboard/. `vite dev` proxies the socket
// and the admin API to a coordinator on :8080.
const coordinator = process.env.TABFLEET_COORDINATOR ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1024 },
  server: {
    proxy: {
      '/api': coordinator,
      '/socket.io': { target: coordinator, ws: true },
    },
  },
});
