// Starts @firestore-emulator/server on a loopback port chosen by the kernel
// and prints "listening 127.0.0.1:<port>" once it accepts connections. It
// exits when its standard input closes, so it never outlives the Go test
// process that started it (testing/firestoreemu).
//
// FirestoreServer.start(port) binds 0.0.0.0 and hides the bound port, so
// this binds the package's gRPC server itself, on loopback only.
"use strict";

const { FirestoreServer } = require("@firestore-emulator/server");
const { ServerCredentials } = require("@grpc/grpc-js");

const emulator = new FirestoreServer();
// "server" is a TypeScript-private field: private to the type checker only.
emulator.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`firestore emulator: bind: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`listening 127.0.0.1:${port}\n`);
});

function stop() {
  emulator.stop();
  process.exit(0);
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
