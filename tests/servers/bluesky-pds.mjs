// A Bluesky PDS and an in-memory PLC directory on 127.0.0.1, for the test-suite only.
// Usage (with the Node from `bluesky.sh node`, run from .cache/bluesky-pds/app):
//   node bluesky-pds.mjs DATA_DIR
// Prints one JSON line {"pds": URL, "plc": URL} once both serve; stops on SIGTERM/stdin close.
// Fixed test secrets: never for real use.
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.cwd(), 'package.json'))
const { PlcServer, Database } = require('@did-plc/server')
const pdsModule = await import(require.resolve('@atproto/pds'))
const { PDS, envToCfg, envToSecrets, readEnv } = pdsModule
const { Secp256k1Keypair } = await import(require.resolve('@atproto/crypto'))

const dataDir = process.argv[2]
const plc = PlcServer.create({ db: Database.mock(), port: 0 })
const plcServer = await plc.start()
const plcUrl = `http://127.0.0.1:${plcServer.address().port}`

const rotation = await Secp256k1Keypair.create({ exportable: true })
const rotationHex = Buffer.from(await rotation.export()).toString('hex')
const port = Number(process.env.PDS_TEST_PORT)
Object.assign(process.env, {
  PDS_PORT: String(port),
  PDS_HOSTNAME: 'localhost',
  PDS_DEV_MODE: 'true',
  PDS_DATA_DIRECTORY: dataDir,
  PDS_BLOBSTORE_DISK_LOCATION: path.join(dataDir, 'blobs'),
  PDS_JWT_SECRET: 'test-jwt-secret',
  PDS_ADMIN_PASSWORD: 'test-admin-password',
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: rotationHex,
  PDS_DID_PLC_URL: plcUrl,
  PDS_INVITE_REQUIRED: 'false',
  PDS_SERVICE_HANDLE_DOMAINS: '.test',
  PDS_BSKY_APP_VIEW_URL: '',
  PDS_BSKY_APP_VIEW_DID: '',
  PDS_CRAWLERS: '',
  LOG_ENABLED: 'false',
})
const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.start()
console.log(JSON.stringify({ pds: `http://localhost:${port}`, plc: plcUrl }))

const stop = async () => {
  await pds.destroy()
  await plc.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
