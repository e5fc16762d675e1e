// tests/cross/wasi-run.mjs FILE.wasm [ARGS...] — runs a wasm32-wasi command module under node's
// WASI (preview1), with the program's arguments and the FA_TEST_* variables of the environment;
// exits with the program's exit code. No file system access is granted (the suites need none).
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [file, ...args] = process.argv.slice(2);
if (!file) {
    console.error('usage: node tests/cross/wasi-run.mjs FILE.wasm [ARGS...]');
    process.exit(2);
}
const env = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('FA_TEST_')) env[k] = v;
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const code = wasi.start(instance);
process.exitCode = code ?? 0;
