// SPDX-License-Identifier: MIT
// The EVM peer of contracts/c/amm.c: constant-product pools, 0.3 % fee kept in the pool.
pragma solidity 0.8.37;

contract Amm {
    struct Pool { uint64 ra; uint64 rb; }
    mapping(uint64 => Pool) public pools;
    // What each trader bought so far (amm.c keeps the same record).
    mapping(address => uint64) public bought;
    event Swap(uint64 pool, address trader, uint64 amountIn, uint64 amountOut);

    function init(uint64 pool, uint64 ra, uint64 rb) external {
        require(pools[pool].ra == 0, "amm: pool exists");
        require(ra != 0 && rb != 0, "amm: empty reserve");
        pools[pool] = Pool(ra, rb);
    }

    function swap(uint64 pool, uint64 amountIn, uint64 minOut) external returns (uint64 out) {
        Pool memory p = pools[pool];
        require(p.ra != 0, "amm: no pool");
        uint256 traded = uint256(amountIn) * 997 / 1000;
        out = uint64(uint256(p.rb) * traded / (uint256(p.ra) + traded));
        require(out >= minOut && out != 0, "amm: slippage");
        pools[pool] = Pool(p.ra + amountIn, p.rb - out);
        bought[msg.sender] += out;
        emit Swap(pool, msg.sender, amountIn, out);
    }
}
