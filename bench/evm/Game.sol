// SPDX-License-Identifier: MIT
// The EVM peer of contracts/c/game.c: each move rewrites the player's 8 records of 32 bytes.
pragma solidity 0.8.37;

contract Game {
    uint256 constant SLOTS = 8;
    mapping(address => uint256[SLOTS]) records;
    uint64 public hi;
    event Move(address player, uint64 score);

    function mix(uint64 z) internal pure returns (uint64) {
        unchecked {
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
            z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
            return z ^ (z >> 31);
        }
    }

    function play(uint64 seed, bool shared) external returns (uint64 score) {
        uint256[SLOTS] storage recs = records[msg.sender];
        for (uint256 i = 0; i < SLOTS; i++) {
            uint256 rec = recs[i];
            uint256 next = 0;
            for (uint256 w = 0; w < 4; w++) {
                uint64 v = uint64(rec >> (64 * w));
                next |= uint256(mix(v ^ seed ^ uint64(i << 8) ^ uint64(w))) << (64 * w);
            }
            recs[i] = next;
            score += uint64(next) & 0xffff;
        }
        if (shared && score > hi) hi = score;
        emit Move(msg.sender, score);
    }

    function scoreOf(address player) external view returns (uint64 score) {
        for (uint256 i = 0; i < SLOTS; i++) score += uint64(records[player][i]) & 0xffff;
    }
}
