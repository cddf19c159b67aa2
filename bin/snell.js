#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so `npx snell` works from a clean install without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
await main();
