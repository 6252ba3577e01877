/**
 * The OAuth URNs on the wire, defined once for the client side and `dev idp` alike: the grant types,
 * the token types of a token exchange and the client assertion type.
 */

/** RFC 7523's JWT bearer grant: Microsoft Entra's on-behalf-of (with `requested_token_use=on_behalf_of`). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
/** RFC 8693's token exchange: on-behalf-of elsewhere (Keycloak, oidc-provider with tokenctl's grant). */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
/** RFC 8628's device authorization grant. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/** RFC 8693's token types: what a subject token is and what a token exchange is asked to issue. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'

/** RFC 7523's client assertion type: a signed JWT (private_key_jwt) or a federated token in place of a secret. */
export const JWT_BEARER_CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
