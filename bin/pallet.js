#!/usr/bin/env node
// The `pallet` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs).
import '../dist/main.js';
