// SPDX-License-Identifier: MIT
// The EVM peer of contracts/c/nft.c: open mint of sequential ids, owner-only transfer.
pragma solidity 0.8.37;

contract Nft {
    uint64 public supply;
    mapping(uint64 => address) owners;
    mapping(address => uint64) public balance;
    event Transfer(address from, address to, uint64 id);

    function mint(address to) external returns (uint64 id) {
        id = supply++;
        owners[id] = to;
        balance[to] += 1;
        emit Transfer(address(0), to, id);
    }

    function transfer(uint64 id, address to) external {
        address owner = owners[id];
        require(owner != address(0), "nft: no such id");
        require(owner == msg.sender, "nft: not the owner");
        require(owner != to, "nft: transfer to self");
        owners[id] = to;
        balance[owner] -= 1;
        balance[to] += 1;
        emit Transfer(owner, to, id);
    }

    function ownerOf(uint64 id) external view returns (address owner) {
        owner = owners[id];
        require(owner != address(0), "nft: no such id");
    }
}
