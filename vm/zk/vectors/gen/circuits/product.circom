pragma circom 2.1.0;
// Knowledge of a factorisation with a bound: a * b = c with a, b != 1 (c public, also public
// a running sum s = a + b + k for a public k). Compiled for BLS12-381 as the cross-check there.
template Product() {
    signal input c;
    signal input k;
    signal input s;
    signal input a;
    signal input b;
    signal ainv;
    signal binv;
    c === a * b;
    s === a + b + k;
    // a - 1 and b - 1 are invertible, so neither factor is 1.
    ainv <-- 1 / (a - 1);
    ainv * (a - 1) === 1;
    binv <-- 1 / (b - 1);
    binv * (b - 1) === 1;
}

component main {public [c, k, s]} = Product();
