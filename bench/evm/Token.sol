// SPDX-License-Identifier: MIT
// The EVM peer of contracts/c/token.c: OpenZeppelin's ERC-20, all supply minted to the deployer.
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract Token is ERC20 {
    constructor(uint256 supply) ERC20("Keel Bench Token", "KBT") {
        _mint(msg.sender, supply);
    }
}
