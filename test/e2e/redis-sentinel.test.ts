import {strict as assert} from 'node:assert'

import {fleetOnReplicatedRedis} from '../helpers/redis-fleet.js'
import {requireSentinelSet, SENTINEL_MASTER_NAME, type SentinelSet} from '../helpers/redis-topologies.js'

describe('a fleet on Redis Sentinel (end to end: a primary, a replica and three sentinels, real redis-server and redis-sentinel)', function () {
  this.timeout(180_000)
  fleetOnReplicatedRedis({
    async reached(topology, location) {
      const primary = await (topology as SentinelSet).primary()
      assert.ok(location.includes(`(Sentinel master "${SENTINEL_MASTER_NAME}" at ${primary.address}, 1 replica)`), location)
    },
    start: requireSentinelSet,
    topologyName: 'Sentinel',
  })
})
