// Storage.Get through @grpc/grpc-js, a gRPC implementation nobody in this
// project wrote, against a real broker: what a partner app in JavaScript
// sees on the wire. Driven by tests/it/broker_grpc_js.rs.
//
//   node get.mjs NODE_MODULES PROTO_DIR HOST:PORT API_KEY BLOB_ID OFFSET LENGTH
//
// Prints one JSON line per call: the call's name, its gRPC status code and
// details, whether the header came first and exactly once, how many data
// frames arrived, and the length and SHA-256 of the bytes.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';

const [, , nodeModules, protoDir, target, apiKey, blobId, offset, length] = process.argv;
// The packages live under the test tools' node prefix, not beside this file.
const require = createRequire(`${nodeModules}/`);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const definition = protoLoader.loadSync('shardgate/v1/storage.proto', {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  oneofs: true,
});
const { shardgate } = grpc.loadPackageDefinition(definition);
const storage = new shardgate.v1.Storage(target, grpc.credentials.createInsecure());

function get(name, request) {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    metadata.set('x-api-key', apiKey);
    const hash = createHash('sha256');
    let bytes = 0;
    let frames = 0;
    let headers = 0;
    let headerFirst = true;
    let served = null;
    const call = storage.Get(request, metadata);
    call.on('data', (message) => {
      if (message.frame === 'header') {
        headers += 1;
        served = message.header.range;
      } else if (message.frame === 'data') {
        if (headers === 0) headerFirst = false;
        frames += 1;
        bytes += message.data.length;
        hash.update(message.data);
      }
    });
    const done = (code, details) =>
      resolve({
        call: name,
        code,
        details,
        header_first: headerFirst && headers === 1,
        served,
        frames,
        length: bytes,
        sha256: hash.digest('hex'),
      });
    call.on('error', (e) => done(e.code, e.details));
    call.on('status', (s) => {
      if (s.code === grpc.status.OK) done(s.code, s.details);
    });
  });
}

const calls = [
  ['whole', { blob_id: blobId }],
  ['range', { blob_id: blobId, range: { offset, length } }],
  ['missing', { blob_id: '0'.repeat(64) }],
  ['bad_id', { blob_id: 'not-a-blob-id' }],
];
for (const [name, request] of calls) {
  process.stdout.write(`${JSON.stringify(await get(name, request))}\n`);
}
storage.close();
