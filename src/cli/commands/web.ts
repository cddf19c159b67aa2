/**
 * @file `snell web`: serves the page that fine-tunes the demo backbone in the browser (WebGPU or
 * wasm) on 127.0.0.1 until Ctrl-C or SIGTERM.
 */
import type { Command } from "commander";
import { startWebServer } from "../../web/server.js";
import { EXIT, parseInteger, println, type CliContext } from "./context.js";

interface WebFlags {
  port: number;
  host: string;
  allowRemote?: boolean;
}

/** Resolves on the first SIGINT or SIGTERM (a server stops cleanly on either; exit 0). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("web")
    .description("serve a page that fine-tunes the demo ViT in your browser (WebGPU, or wasm without it) on your images or bundled MNIST digits, then downloads the adapter and the merged ONNX model")
    .option("--port <n>", "port (0: a free one)", parseInteger("--port"), 8080)
    .option("--host <addr>", "address to listen on (loopback only unless --allow-remote)", "127.0.0.1")
    .option("--allow-remote", "allow a non-loopback --host (the page is then reachable from the network)")
    .addHelpText("after", "\nOpen the printed URL in a browser. Images stay in the browser; the server only sends the page, ONNX Runtime Web, the demo backbone and the bundled digits.")
    .action(async () => {
      const o = cmd.opts() as WebFlags;
      const server = await startWebServer({ port: o.port, host: o.host, allowRemote: o.allowRemote ?? false });
      println(ctx.stdout, `snell web: serving ${server.url} (Ctrl-C to stop)`);
      const sig = await untilSignal();
      await server.close();
      println(ctx.stderr, `snell web: ${sig}, stopped`);
      ctx.exitCode = EXIT.ok;
    });
}
