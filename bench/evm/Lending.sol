// SPDX-License-Identifier: MIT
// The EVM peer of contracts/c/lending.c: one market, debt scaled by a global borrow index in
// Q64.64 that every call brings to the current block (index *= (1 + rate)^elapsed).
pragma solidity 0.8.37;

contract Lending {
    uint256 constant ONE = 1 << 64;
    uint256 index = ONE;
    uint256 rate;
    uint256 last;
    uint64 cash;
    uint64 deposits;
    mapping(address => uint64) deposit;
    mapping(address => uint256) scaled;
    event Borrow(address who, uint64 amount);
    event Repay(address who, uint64 amount);

    constructor(uint256 ratePerBlock) {
        require(ratePerBlock < ONE, "lending: rate out of range");
        rate = ratePerBlock;
        last = block.number;
    }

    /// x^n in Q64.64 by squaring.
    function rpow(uint256 x, uint256 n) internal pure returns (uint256 z) {
        z = ONE;
        while (n > 0) {
            if (n & 1 == 1) z = z * x >> 64;
            x = x * x >> 64;
            n >>= 1;
        }
    }

    function indexNow() internal view returns (uint256) {
        if (block.number <= last) return index;
        return index * rpow(ONE + rate, block.number - last) >> 64;
    }

    function accrue() internal {
        index = indexNow();
        last = block.number;
    }

    function owed(address who) internal view returns (uint256) {
        uint256 debt = scaled[who] * indexNow();
        return (debt >> 64) + (debt & (ONE - 1) == 0 ? 0 : 1);
    }

    function depositFunds(uint64 amount) external {
        accrue();
        deposit[msg.sender] += amount;
        cash += amount;
        deposits += amount;
    }

    function borrow(uint64 amount) external {
        accrue();
        require((owed(msg.sender) + amount) * 4 <= uint256(deposit[msg.sender]) * 3,
            "lending: undercollateralised");
        require(amount <= cash, "lending: insufficient cash");
        scaled[msg.sender] += (uint256(amount) << 64) / index;
        cash -= amount;
        emit Borrow(msg.sender, amount);
    }

    function repay(uint64 amount) external returns (uint64 paid) {
        accrue();
        uint256 o = owed(msg.sender);
        require(o != 0, "lending: no debt");
        if (amount >= o) {
            paid = uint64(o);
            scaled[msg.sender] = 0;
        } else {
            paid = amount;
            uint256 cleared = (uint256(amount) << 64) / index;
            scaled[msg.sender] = cleared > scaled[msg.sender] ? 0 : scaled[msg.sender] - cleared;
        }
        cash += paid;
        emit Repay(msg.sender, paid);
    }

    function account(address who) external view returns (uint64, uint64) {
        return (deposit[who], uint64(owed(who)));
    }

    function market() external view returns (uint256, uint64, uint64) {
        return (indexNow(), cash, deposits);
    }
}
