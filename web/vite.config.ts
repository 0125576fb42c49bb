/**
 * Builds the web UI into `dist/ui/` (served by `pallet serve`, see src/web/ui-routes.ts). JSX is
 * compiled by Vite's built-in esbuild (automatic runtime): no Babel plugin needed.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic', legalComments: 'none' },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:5000' } },
});
