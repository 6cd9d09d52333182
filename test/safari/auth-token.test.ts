import { createAuthTokens } from '../../src/safari/auth-token';

const OLD = 'old-secret-0123456789abcdefghijklmnopqrstuv';
const NEW = 'new-secret-0123456789abcdefghijklmnopqrstuv';

describe('authenticationToken secrets', () => {
  test('when AUTH_TOKEN_SECRET is rotated to "new,old", then old tokens still verify and new tokens are minted with the new secret', () => {
    const before = createAuthTokens([OLD], 'web.com.example');
    const after = createAuthTokens([NEW, OLD], 'web.com.example');
    const oldToken = before.mint('alice');
    expect(after.verify(oldToken)?.userId).toBe('alice');

    const newToken = after.mint('bob');
    expect(after.verify(newToken)?.userId).toBe('bob');
    // Minted with the first secret: a deployment that still only knows the old one rejects it.
    expect(before.verify(newToken)).toBeUndefined();
    expect(createAuthTokens([NEW], 'web.com.example').verify(newToken)?.userId).toBe('bob');
  });

  test('when the old secret is finally dropped, then tokens made with it stop verifying', () => {
    const oldToken = createAuthTokens([OLD], 'web.com.example').mint('alice');
    expect(createAuthTokens([NEW], 'web.com.example').verify(oldToken)).toBeUndefined();
  });

  test('when tokens are minted, then they are long, distinct and carry the issue time', () => {
    const tokens = createAuthTokens([NEW], 'web.com.example');
    const a = tokens.mint(null);
    const b = tokens.mint(null);
    expect(a.length).toBeGreaterThanOrEqual(16);
    expect(a).not.toBe(b);
    const claims = tokens.verify(a);
    expect(claims?.userId).toBeNull();
    expect(Math.abs(claims!.issuedAt.getTime() - Date.now())).toBeLessThan(5000);
  });
});
