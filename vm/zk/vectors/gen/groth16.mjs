// Generates ../groth16_bn254.json and ../groth16_bls12_381.json: Groth16 proofs made by an
// independent prover (circom 2 via the circom2 npm package, snarkjs), in Keel's ABI encoding.
//  - BN254: circuits/vote.circom (private ballot over a Poseidon Merkle tree of 4 voters).
//  - BLS12-381: circuits/product.circom compiled with --prime bls12381.
// Each setup is a fresh local powers-of-tau plus one contribution: test keys, not ceremony keys.
// Run: npm ci && node groth16.mjs   (takes about a minute)
import { buildPoseidonReference } from "circomlibjs";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const bin = (name) => `${here}node_modules/.bin/${name}`;
const run = (cmd, args) => execFileSync(bin(cmd), args, { cwd: here, stdio: ["ignore", "pipe", "inherit"] });
const build = `${here}build`;
mkdirSync(build, { recursive: true });

const CURVES = {
  bn254: { snark: "bn128", prime: "bn128", coord: 32, power: 12 },
  bls12_381: { snark: "bls12381", prime: "bls12381", coord: 48, power: 6 },
};

const be = (dec, len) => BigInt(dec).toString(16).padStart(2 * len, "0");
// snarkjs gives projective [x, y, z] with z = 1 (or 0 for infinity), G2 coordinates [c0, c1].
const g1 = (p, n) => (p[2] === "0" ? "00".repeat(2 * n) : be(p[0], n) + be(p[1], n));
const g2 = (p, n) =>
  p[2][0] === "0" && p[2][1] === "0"
    ? "00".repeat(4 * n)
    : be(p[0][1], n) + be(p[0][0], n) + be(p[1][1], n) + be(p[1][0], n);

function prove(name, circuit, curveName, input) {
  const c = CURVES[curveName];
  const dir = `${build}/${name}`;
  mkdirSync(dir, { recursive: true });
  run("circom2", [`circuits/${circuit}.circom`, "--r1cs", "--wasm", "--prime", c.prime,
    "-l", "node_modules/circomlib/circuits", "-o", dir]);
  const p = (f) => `${dir}/${f}`;
  run("snarkjs", ["powersoftau", "new", c.snark, String(c.power), p("pot0.ptau")]);
  run("snarkjs", ["powersoftau", "contribute", p("pot0.ptau"), p("pot1.ptau"), "--name=keel", "-e=keel test tau"]);
  run("snarkjs", ["powersoftau", "prepare", "phase2", p("pot1.ptau"), p("pot.ptau")]);
  run("snarkjs", ["groth16", "setup", p(`${circuit}.r1cs`), p("pot.ptau"), p("c0.zkey")]);
  run("snarkjs", ["zkey", "contribute", p("c0.zkey"), p("c1.zkey"), "--name=keel", "-e=keel test zkey"]);
  run("snarkjs", ["zkey", "export", "verificationkey", p("c1.zkey"), p("vk.json")]);
  writeFileSync(p("input.json"), JSON.stringify(input));
  run("snarkjs", ["wtns", "calculate", p(`${circuit}_js/${circuit}.wasm`), p("input.json"), p("w.wtns")]);
  run("snarkjs", ["groth16", "prove", p("c1.zkey"), p("w.wtns"), p("proof.json"), p("public.json")]);
  run("snarkjs", ["groth16", "verify", p("vk.json"), p("public.json"), p("proof.json")]);
  const vk = JSON.parse(readFileSync(p("vk.json")));
  const proof = JSON.parse(readFileSync(p("proof.json")));
  const pub = JSON.parse(readFileSync(p("public.json")));
  const n = c.coord;
  return {
    curve: curveName,
    circuit: `circuits/${circuit}.circom`,
    vk: g1(vk.vk_alpha_1, n) + g2(vk.vk_beta_2, n) + g2(vk.vk_gamma_2, n) + g2(vk.vk_delta_2, n)
      + vk.IC.map((q) => g1(q, n)).join(""),
    proof: g1(proof.pi_a, n) + g2(proof.pi_b, n) + g1(proof.pi_c, n),
    inputs: pub.map((x) => be(x, 32)),
  };
}

// The ballot: four registered voters, voter 2 votes 1 in election 7.
const poseidon = await buildPoseidonReference();
const H = (xs) => poseidon.F.toObject(poseidon(xs));
const secrets = [1001n, 2002n, 3003n, 4004n];
const leaves = secrets.map((s) => H([s]));
const level1 = [H([leaves[0], leaves[1]]), H([leaves[2], leaves[3]])];
const root = H(level1);
const election = 7n;
const voter = 2;
const ballot = {
  root: root.toString(), election: election.toString(), vote: "1",
  nullifier: H([secrets[voter], election]).toString(), secret: secrets[voter].toString(),
  siblings: [leaves[3].toString(), level1[0].toString()], is_right: ["0", "1"],
};
const bn = prove("vote", "vote", "bn254", ballot);
bn.voters = { secrets: secrets.map(String), leaves: leaves.map((x) => be(x, 32)), root: be(root, 32), voter, election: 7 };
writeFileSync(new URL("../groth16_bn254.json", import.meta.url), JSON.stringify(bn, null, 1) + "\n");

const k = 5n, a = 3n, b = 11n;
const bls = prove("product", "product", "bls12_381",
  { c: String(a * b), k: String(k), s: String(a + b + k), a: String(a), b: String(b) });
writeFileSync(new URL("../groth16_bls12_381.json", import.meta.url), JSON.stringify(bls, null, 1) + "\n");
console.log("wrote groth16_bn254.json and groth16_bls12_381.json");
