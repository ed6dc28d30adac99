/**
 * The NextDatum call is Pachyderm's gRPC (pachyderm.worker.Worker/NextDatum): the stage's client and the engine's
 * server each talk to a real gRPC implementation (@grpc/grpc-js, messages encoded by protobufjs from the two
 * message definitions), not only to each other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { answer, NextDatumServer } from '../../engine/worker/next-datum-server.js';
import { batchingPort, NextDatumClient } from '../../shared/next-datum.js';

const Request = new protobuf.Type('NextDatumRequest').add(new protobuf.Field('error', 1, 'string'));
const Response = new protobuf.Type('NextDatumResponse').add(new protobuf.Field('env', 1, 'string', 'repeated'));
new protobuf.Root().define('pachyderm.worker').add(Request).add(Response);

interface Req {
  error: string;
}
interface Res {
  env: string[];
}

const method: grpc.MethodDefinition<Req, Res> = {
  path: '/pachyderm.worker.Worker/NextDatum',
  requestStream: false,
  responseStream: false,
  requestSerialize: (r) => Buffer.from(Request.encode(Request.create(r)).finish()),
  requestDeserialize: (b) => Request.toObject(Request.decode(b), { defaults: true }) as Req,
  responseSerialize: (r) => Buffer.from(Response.encode(Response.create(r)).finish()),
  responseDeserialize: (b) => Response.toObject(Response.decode(b), { defaults: true, arrays: true }) as Res,
};

describe('NextDatum against gRPC', () => {
  let server: grpc.Server;
  let port = 0;
  const seen: string[] = [];
  before(async () => {
    server = new grpc.Server();
    server.addService({ NextDatum: method } as grpc.ServiceDefinition, {
      NextDatum: (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
        seen.push(call.request.error);
        if (call.request.error === 'refuse')
          return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'datum batching not enabled' });
        cb(null, { env: ['in=/pfs/in/a', 'PACH_DATUM_ID=abc', 'EQ=x=y'] });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  after(() => server.forceShutdown());

  it("the stage's client gets a grpc-js server's environment and sends its error", async () => {
    const client = new NextDatumClient(port);
    assert.deepEqual(await client.next(), { in: '/pfs/in/a', PACH_DATUM_ID: 'abc', EQ: 'x=y' });
    await client.next('Error: no tiles');
    await assert.rejects(client.next('refuse'), /gRPC status 9: datum batching not enabled/);
    assert.deepEqual(seen, ['', 'Error: no tiles', 'refuse']);
    client.close();
  });

  it("a grpc-js client gets the engine server's answer, and the server its error", async () => {
    const ours = new NextDatumServer();
    const p = await ours.listen();
    const Client = grpc.makeGenericClientConstructor({ NextDatum: method }, 'Worker');
    const client = new Client(`127.0.0.1:${p}`, grpc.credentials.createInsecure()) as grpc.Client & {
      NextDatum: (r: Req, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void;
    };
    const call = (error: string) =>
      new Promise<Res>((resolve, reject) => client.NextDatum({ error }, (e, r) => (e ? reject(e) : resolve(r!))));
    for (const error of ['', 'ValueError: bad tile']) {
      const served = ours.nextCall().then((c) => {
        assert.equal(c.error, error);
        answer(c.stream, ['slides=/pfs/slides/s1', `N=${error.length}`]);
      });
      const res = await call(error);
      await served;
      assert.deepEqual(res.env, ['slides=/pfs/slides/s1', `N=${error.length}`]);
    }
    // a second call while one waits is refused with a gRPC status, not left hanging
    const waiting = ours.nextCall();
    const first = call('');
    const c = await waiting;
    await assert.rejects(call(''), (e: grpc.ServiceError) => e.code === grpc.status.FAILED_PRECONDITION);
    answer(c.stream, []);
    assert.deepEqual((await first).env, []);
    client.close();
    await ours.close();
  });

  it('batching is on only with a worker port and no datum yet', () => {
    assert.equal(batchingPort({ PPS_WORKER_GRPC_PORT: '1080' }), 1080);
    assert.equal(batchingPort({ PPS_WORKER_GRPC_PORT: '1080', PACH_DATUM_ID: 'x' }), undefined);
    assert.equal(batchingPort({}), undefined);
    assert.equal(batchingPort({ PPS_WORKER_GRPC_PORT: 'abc' }), undefined);
  });
});
