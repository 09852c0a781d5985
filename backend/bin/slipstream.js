#!/usr/bin/env node
// The slipstream CLI. Node.js >= 24 runs the TypeScript sources directly
// (type stripping), so there is no build step between `npm ci` and this.
import { main } from '../src/cli/main.ts';

await main(process.argv);
