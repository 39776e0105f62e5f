#!/usr/bin/env node
// ONNX Runtime side of the fluidml benchmark: one model, one process, CPU execution provider.
//
//   node bench/ort_run.mjs MODEL.onnx --inputs DIR [--outputs DIR] [--threads N] [--warmup W] [--iters K]
//
// Reads DIR/input_K.pb (serialized ONNX TensorProto, the layout of ONNX's test data sets), runs W warm-up and K
// timed inferences with intraOpNumThreads N, interOpNumThreads 1, sequential execution and every graph
// optimization, prints one JSON object on stdout and, with --outputs, writes the outputs as output_K.pb in the
// order of the session's output names (TensorProto reading and writing: tensor_proto.mjs).
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import ort from 'onnxruntime-node';

import { ProtoError, parseTensorProto, writeTensorProto } from './tensor_proto.mjs';

// ---- command line ----------------------------------------------------------------------------------------------
function usage(message) {
  if (message) process.stderr.write(`ort_run: error: ${message}\n`);
  process.stderr.write('usage: node bench/ort_run.mjs MODEL.onnx --inputs DIR [--outputs DIR] [--threads N] ' +
                       '[--warmup W] [--iters K]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { model: null, inputs: null, outputs: null, threads: 1, warmup: 5, iters: 20 };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const count = (min) => {
      const s = value();
      if (!/^\d+$/.test(s) || Number(s) < min) usage(`${a} needs an integer >= ${min}, got '${s}'`);
      return Number(s);
    };
    if (a === '--inputs') opts.inputs = value();
    else if (a === '--outputs') opts.outputs = value();
    else if (a === '--threads') opts.threads = count(1);
    else if (a === '--warmup') opts.warmup = count(0);
    else if (a === '--iters') opts.iters = count(1);
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option '${a}'`);
    else if (opts.model === null) opts.model = a;
    else usage(`unexpected argument '${a}'`);
  }
  if (!opts.model) usage('no model given');
  if (!opts.inputs) usage('--inputs DIR is required');
  return opts;
}

function loadInputs(dir, session) {
  const files = fs.readdirSync(dir).filter((f) => /^input_\d+\.pb$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
  const feeds = {};
  files.forEach((f, k) => {
    const file = path.join(dir, f);
    const t = parseTensorProto(fs.readFileSync(file), file);
    // Tensors without a name bind by position, as in ONNX's test runner.
    const name = t.name || session.inputNames[k];
    if (!session.inputNames.includes(name)) {
      throw new ProtoError(`${file}: the model has no input named '${name}' ` +
                           `(inputs: ${session.inputNames.join(', ')})`);
    }
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  });
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new ProtoError(`${dir}: no input_K.pb for model input(s) ${missing.join(', ')}`);
  return feeds;
}

// Peak resident set size of this process in bytes: VmHWM of /proc/self/status. getrusage's maxrss
// (process.resourceUsage().maxRSS) is not used: Linux carries the RSS high-water mark of the process that called
// exec over into it, so a child of a big parent (or of a vfork-ing Python) would report the parent's size.
function peakRssBytes() {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+)\s+kB/m);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const baselineRss = peakRssBytes();  // Node itself, before the model is loaded
  const t0 = process.hrtime.bigint();
  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    process.stderr.write(`ort_run: error: ${opts.model}: ${e.message}\n`);
    process.exit(2);
  }
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = loadInputs(opts.inputs, session);

  let outputs = null;
  for (let i = 0; i < opts.warmup; ++i) outputs = await session.run(feeds);
  const times = [];
  for (let i = 0; i < opts.iters; ++i) {
    const start = process.hrtime.bigint();
    outputs = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);

  if (opts.outputs) {
    fs.mkdirSync(opts.outputs, { recursive: true });
    session.outputNames.forEach((name, k) => {
      const t = outputs[name];
      writeTensorProto(path.join(opts.outputs, `output_${k}.pb`), name, t.type, t.dims, t.data);
    });
  }
  const result = {
    latency_ms: median(times),
    latency_min_ms: times[0],
    latency_max_ms: times[times.length - 1],
    peak_rss_bytes: peakRssBytes(),
    baseline_rss_bytes: baselineRss,
    load_ms: loadMs,
    threads: opts.threads,
    warmup: opts.warmup,
    iters: opts.iters,
    engine: `onnxruntime-node ${ort.env.versions.node}`,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  await session.release();
}

main().catch((e) => {
  if (e instanceof ProtoError) {
    process.stderr.write(`ort_run: error: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`ort_run: internal error: ${e.stack || e}\n`);
  process.exit(1);
});
