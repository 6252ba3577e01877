import {startAuthServer} from '/work/main/test/helpers/auth-server.js'
import {writeFileSync} from 'node:fs'
const server = await startAuthServer()
writeFileSync('/tmp/bench-server.json', JSON.stringify({issuer: server.issuer, token: server.tokenEndpoint}))
console.log('ready', server.issuer)
setInterval(() => {}, 1000)
