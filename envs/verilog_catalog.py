"""The specs of the built-in Verilog problems (see :mod:`assay.envs.verilog_problems`).

Each ``buggy`` variant is a mistake a model plausibly makes (wrong priority, off-by-one wrap,
swapped taps); the conformance test proves the testbench catches every one.
"""

from __future__ import annotations

from assay.envs.verilog_problems import Problem

_C, _A, _S, _K, _SH, _F = "combinational", "arithmetic", "sequential", "counter", "shift", "fsm"

PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "mux2", _C, "Output y is a when sel is 0 and b when sel is 1 (a, b and y are 8 bits).",
        (("a", 8), ("b", 8), ("sel", 1)), (("y", 8),),
        "module RefModule(input [7:0] a, input [7:0] b, input sel, output [7:0] y);\n"
        "  assign y = sel ? b : a;\nendmodule\n",
        "module TopModule(input [7:0] a, input [7:0] b, input sel, output [7:0] y);\n"
        "  assign y = sel ? a : b;\nendmodule\n",
    ),
    Problem(
        "mux4", _C, "Output y is d[sel]: the bit of the 4-bit input d selected by the 2-bit input sel.",
        (("d", 4), ("sel", 2)), (("y", 1),),
        "module RefModule(input [3:0] d, input [1:0] sel, output y);\n"
        "  assign y = d[sel];\nendmodule\n",
        "module TopModule(input [3:0] d, input [1:0] sel, output y);\n"
        "  assign y = d[{sel[0], sel[1]}];\nendmodule\n",
    ),
    Problem(
        "decoder3to8", _C, "A 3-to-8 decoder with enable: when en is 1, y has exactly bit a set; when en is 0, y is 0.",
        (("a", 3), ("en", 1)), (("y", 8),),
        "module RefModule(input [2:0] a, input en, output [7:0] y);\n"
        "  assign y = en ? (8'd1 << a) : 8'd0;\nendmodule\n",
        "module TopModule(input [2:0] a, input en, output [7:0] y);\n"
        "  assign y = 8'd1 << a;\nendmodule\n",
    ),
    Problem(
        "priority_encoder8", _C,
        "An 8-bit priority encoder: pos is the index of the highest set bit of in, and valid is 1 when any bit "
        "of in is set. When in is 0, pos is 0.",
        (("in", 8),), (("pos", 3), ("valid", 1)),
        "module RefModule(input [7:0] in, output reg [2:0] pos, output valid);\n"
        "  integer i;\n  assign valid = |in;\n"
        "  always @(*) begin\n    pos = 3'd0;\n"
        "    for (i = 0; i < 8; i = i + 1) if (in[i]) pos = i[2:0];\n  end\nendmodule\n",
        "module TopModule(input [7:0] in, output reg [2:0] pos, output valid);\n"
        "  integer i;\n  assign valid = |in;\n"
        "  always @(*) begin\n    pos = 3'd0;\n"
        "    for (i = 7; i >= 0; i = i - 1) if (in[i]) pos = i[2:0];\n  end\nendmodule\n",
    ),
    Problem(
        "popcount8", _C, "Output count is the number of 1 bits in the 8-bit input in.",
        (("in", 8),), (("count", 4),),
        "module RefModule(input [7:0] in, output reg [3:0] count);\n"
        "  integer i;\n"
        "  always @(*) begin\n    count = 4'd0;\n"
        "    for (i = 0; i < 8; i = i + 1) count = count + {3'd0, in[i]};\n  end\nendmodule\n",
        "module TopModule(input [7:0] in, output [3:0] count);\n"
        "  assign count = in[0] + in[1] + in[2] + in[3] + in[4] + in[5] + in[6];\nendmodule\n",
    ),
    Problem(
        "bin2gray4", _C, "Output gray is the 4-bit reflected Gray code of the 4-bit binary input bin.",
        (("bin", 4),), (("gray", 4),),
        "module RefModule(input [3:0] bin, output [3:0] gray);\n"
        "  assign gray = bin ^ (bin >> 1);\nendmodule\n",
        "module TopModule(input [3:0] bin, output [3:0] gray);\n"
        "  assign gray = bin ^ (bin << 1);\nendmodule\n",
    ),
    Problem(
        "parity9", _C,
        "Output even is 1 when the 9-bit input in has an even number of 1 bits, and odd is its complement.",
        (("in", 9),), (("even", 1), ("odd", 1)),
        "module RefModule(input [8:0] in, output even, output odd);\n"
        "  assign odd = ^in;\n  assign even = ~odd;\nendmodule\n",
        "module TopModule(input [8:0] in, output even, output odd);\n"
        "  assign odd = ^in[7:0];\n  assign even = ~odd;\nendmodule\n",
    ),
    Problem(
        "compare4", _C,
        "Compare the 4-bit unsigned inputs a and b: lt is 1 when a < b, eq when a == b, gt when a > b.",
        (("a", 4), ("b", 4)), (("lt", 1), ("eq", 1), ("gt", 1)),
        "module RefModule(input [3:0] a, input [3:0] b, output lt, output eq, output gt);\n"
        "  assign lt = a < b;\n  assign eq = a == b;\n  assign gt = a > b;\nendmodule\n",
        "module TopModule(input [3:0] a, input [3:0] b, output lt, output eq, output gt);\n"
        "  assign lt = $signed(a) < $signed(b);\n  assign eq = a == b;\n  assign gt = $signed(a) > $signed(b);\n"
        "endmodule\n",
    ),
    Problem(
        "adder8", _A, "An 8-bit adder: {cout, sum} = a + b + cin.",
        (("a", 8), ("b", 8), ("cin", 1)), (("sum", 8), ("cout", 1)),
        "module RefModule(input [7:0] a, input [7:0] b, input cin, output [7:0] sum, output cout);\n"
        "  assign {cout, sum} = {1'b0, a} + {1'b0, b} + {8'd0, cin};\nendmodule\n",
        "module TopModule(input [7:0] a, input [7:0] b, input cin, output [7:0] sum, output cout);\n"
        "  assign sum = a + b + cin;\n  assign cout = a[7] & b[7];\nendmodule\n",
    ),
    Problem(
        "alu4op", _A,
        "An 8-bit ALU. op selects the result y: 0 -> a + b, 1 -> a - b, 2 -> a & b, 3 -> a | b "
        "(all 8 bits, wrapping). zero is 1 when y is 0.",
        (("a", 8), ("b", 8), ("op", 2)), (("y", 8), ("zero", 1)),
        "module RefModule(input [7:0] a, input [7:0] b, input [1:0] op, output reg [7:0] y, output zero);\n"
        "  always @(*) case (op)\n    2'd0: y = a + b;\n    2'd1: y = a - b;\n    2'd2: y = a & b;\n"
        "    default: y = a | b;\n  endcase\n  assign zero = (y == 8'd0);\nendmodule\n",
        "module TopModule(input [7:0] a, input [7:0] b, input [1:0] op, output reg [7:0] y, output zero);\n"
        "  always @(*) case (op)\n    2'd0: y = a + b;\n    2'd1: y = b - a;\n    2'd2: y = a & b;\n"
        "    default: y = a | b;\n  endcase\n  assign zero = (y == 8'd0);\nendmodule\n",
    ),
    Problem(
        "mul4", _A, "p is the full 8-bit unsigned product of the 4-bit inputs a and b.",
        (("a", 4), ("b", 4)), (("p", 8),),
        "module RefModule(input [3:0] a, input [3:0] b, output [7:0] p);\n"
        "  assign p = a * b;\nendmodule\n",
        "module TopModule(input [3:0] a, input [3:0] b, output [7:0] p);\n"
        "  wire [3:0] low = a * b;\n  assign p = {4'd0, low};\nendmodule\n",
    ),
    Problem(
        "abs8", _A, "y is the absolute value of the 8-bit two's-complement input x (abs(-128) is 128, i.e. 8'h80).",
        (("x", 8),), (("y", 8),),
        "module RefModule(input [7:0] x, output [7:0] y);\n"
        "  assign y = x[7] ? (~x + 8'd1) : x;\nendmodule\n",
        "module TopModule(input [7:0] x, output [7:0] y);\n"
        "  assign y = x[7] ? ~x : x;\nendmodule\n",
    ),
    Problem(
        "satadd8", _A, "y is the unsigned sum a + b of the 8-bit inputs, saturated at 255 instead of wrapping.",
        (("a", 8), ("b", 8)), (("y", 8),),
        "module RefModule(input [7:0] a, input [7:0] b, output [7:0] y);\n"
        "  wire [8:0] s = a + b;\n  assign y = s[8] ? 8'hff : s[7:0];\nendmodule\n",
        "module TopModule(input [7:0] a, input [7:0] b, output [7:0] y);\n"
        "  assign y = a + b;\nendmodule\n",
    ),
    Problem(
        "dff_sync_reset", _S,
        "An 8-bit register: on each rising edge of clk, q takes d, or 8'h5a when the synchronous reset is 1.",
        (("clk", 1), ("reset", 1), ("d", 8)), (("q", 8),),
        "module RefModule(input clk, input reset, input [7:0] d, output reg [7:0] q);\n"
        "  always @(posedge clk) q <= reset ? 8'h5a : d;\nendmodule\n",
        "module TopModule(input clk, input reset, input [7:0] d, output reg [7:0] q);\n"
        "  always @(posedge clk, posedge reset) q <= reset ? 8'h5a : d;\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "counter8_enable", _K,
        "An 8-bit counter q: on each rising edge of clk it resets to 0 when reset is 1 (synchronous), "
        "otherwise increments (wrapping) when en is 1 and holds when en is 0.",
        (("clk", 1), ("reset", 1), ("en", 1)), (("q", 8),),
        "module RefModule(input clk, input reset, input en, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else if (en) q <= q + 1;\nendmodule\n",
        "module TopModule(input clk, input reset, input en, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else q <= q + 1;\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "bcd_counter", _K,
        "A decade counter q (4 bits) counting 0, 1, ..., 9, 0, ... on each rising edge of clk; the synchronous "
        "reset sets it to 0.",
        (("clk", 1), ("reset", 1)), (("q", 4),),
        "module RefModule(input clk, input reset, output reg [3:0] q);\n"
        "  always @(posedge clk) if (reset || q == 4'd9) q <= 0; else q <= q + 1;\nendmodule\n",
        "module TopModule(input clk, input reset, output reg [3:0] q);\n"
        "  always @(posedge clk) if (reset || q == 4'd10) q <= 0; else q <= q + 1;\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "updown4", _K,
        "A 4-bit up/down counter q: on each rising edge of clk it resets to 0 when reset is 1 (synchronous), "
        "otherwise it increments when up is 1 and decrements when up is 0, wrapping in both directions.",
        (("clk", 1), ("reset", 1), ("up", 1)), (("q", 4),),
        "module RefModule(input clk, input reset, input up, output reg [3:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else q <= up ? q + 1 : q - 1;\nendmodule\n",
        "module TopModule(input clk, input reset, input up, output reg [3:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else q <= up ? q - 1 : q + 1;\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "shift_left8", _SH,
        "An 8-bit shift register q: on each rising edge of clk it shifts left by one with din entering at bit 0; "
        "the synchronous reset clears it.",
        (("clk", 1), ("reset", 1), ("din", 1)), (("q", 8),),
        "module RefModule(input clk, input reset, input din, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else q <= {q[6:0], din};\nendmodule\n",
        "module TopModule(input clk, input reset, input din, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 0; else q <= {din, q[7:1]};\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "shift_load8", _SH,
        "An 8-bit register q with parallel load: on each rising edge of clk, if load is 1 q takes d; "
        "otherwise, if en is 1, q shifts right by one with 0 entering at bit 7; otherwise q holds. "
        "load has priority over en. There is no reset.",
        (("clk", 1), ("load", 1), ("en", 1), ("d", 8)), (("q", 8),),
        "module RefModule(input clk, input load, input en, input [7:0] d, output reg [7:0] q);\n"
        "  always @(posedge clk) if (load) q <= d; else if (en) q <= q >> 1;\nendmodule\n",
        "module TopModule(input clk, input load, input en, input [7:0] d, output reg [7:0] q);\n"
        "  always @(posedge clk) if (en) q <= q >> 1; else if (load) q <= d;\nendmodule\n",
    ),
    Problem(
        "lfsr8", _SH,
        "An 8-bit Fibonacci LFSR q: the synchronous reset sets q to 8'h01; otherwise on each rising edge of clk, "
        "q becomes {q[6:0], q[7] ^ q[5] ^ q[4] ^ q[3]}.",
        (("clk", 1), ("reset", 1)), (("q", 8),),
        "module RefModule(input clk, input reset, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 8'h01; else q <= {q[6:0], q[7] ^ q[5] ^ q[4] ^ q[3]};\nendmodule\n",
        "module TopModule(input clk, input reset, output reg [7:0] q);\n"
        "  always @(posedge clk) if (reset) q <= 8'h01; else q <= {q[6:0], q[7] ^ q[6] ^ q[4] ^ q[3]};\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "rise_detect", _S,
        "pulse is 1 for one clock cycle after each rising edge of the input sig: on each rising edge of clk, "
        "pulse becomes sig & ~prev, where prev is sig's value at the previous rising edge of clk. The synchronous "
        "reset clears pulse and prev.",
        (("clk", 1), ("reset", 1), ("sig", 1)), (("pulse", 1),),
        "module RefModule(input clk, input reset, input sig, output reg pulse);\n"
        "  reg prev;\n"
        "  always @(posedge clk) if (reset) begin prev <= 0; pulse <= 0; end\n"
        "    else begin prev <= sig; pulse <= sig & ~prev; end\nendmodule\n",
        "module TopModule(input clk, input reset, input sig, output reg pulse);\n"
        "  reg prev;\n"
        "  always @(posedge clk) if (reset) begin prev <= 0; pulse <= 0; end\n"
        "    else begin prev <= sig; pulse <= sig ^ prev; end\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "seq101", _F,
        "A Moore FSM that watches the serial input x (sampled on each rising edge of clk) and sets found to 1 "
        "in the cycle after the last three samples were 1, 0, 1. Overlapping matches count (10101 matches "
        "twice). The synchronous reset returns to the idle state (found 0).",
        (("clk", 1), ("reset", 1), ("x", 1)), (("found", 1),),
        "module RefModule(input clk, input reset, input x, output found);\n"
        "  localparam IDLE = 2'd0, S1 = 2'd1, S10 = 2'd2, S101 = 2'd3;\n  reg [1:0] s;\n"
        "  always @(posedge clk)\n    if (reset) s <= IDLE;\n    else case (s)\n"
        "      IDLE: s <= x ? S1 : IDLE;\n      S1: s <= x ? S1 : S10;\n      S10: s <= x ? S101 : IDLE;\n"
        "      default: s <= x ? S1 : S10;\n    endcase\n  assign found = (s == S101);\nendmodule\n",
        "module TopModule(input clk, input reset, input x, output found);\n"
        "  localparam IDLE = 2'd0, S1 = 2'd1, S10 = 2'd2, S101 = 2'd3;\n  reg [1:0] s;\n"
        "  always @(posedge clk)\n    if (reset) s <= IDLE;\n    else case (s)\n"
        "      IDLE: s <= x ? S1 : IDLE;\n      S1: s <= x ? S1 : S10;\n      S10: s <= x ? S101 : IDLE;\n"
        "      default: s <= x ? S1 : IDLE;\n    endcase\n  assign found = (s == S101);\nendmodule\n",
        reset="reset", samples=1000,  # 10101 is rare in 200 random bits
    ),
    Problem(
        "div3_fsm", _F,
        "The serial input b delivers a binary number most significant bit first, one bit per rising edge of clk "
        "(value = 2 * value + b). div is 1 when the number received since the last synchronous reset is "
        "divisible by 3 (it is 1 right after reset).",
        (("clk", 1), ("reset", 1), ("b", 1)), (("div", 1),),
        "module RefModule(input clk, input reset, input b, output div);\n"
        "  reg [1:0] r;  // the value mod 3\n"
        "  always @(posedge clk)\n    if (reset) r <= 0;\n    else case (r)\n"
        "      2'd0: r <= b ? 2'd1 : 2'd0;\n      2'd1: r <= b ? 2'd0 : 2'd2;\n      default: r <= b ? 2'd2 : 2'd1;\n"
        "    endcase\n  assign div = (r == 2'd0);\nendmodule\n",
        "module TopModule(input clk, input reset, input b, output div);\n"
        "  reg [1:0] r;\n"
        "  always @(posedge clk)\n    if (reset) r <= 0;\n    else case (r)\n"
        "      2'd0: r <= b ? 2'd1 : 2'd0;\n      2'd1: r <= b ? 2'd2 : 2'd0;\n      default: r <= b ? 2'd2 : 2'd1;\n"
        "    endcase\n  assign div = (r == 2'd0);\nendmodule\n",
        reset="reset",
    ),
    Problem(
        "rr_arbiter2", _F,
        "A round-robin arbiter for two requesters. On each rising edge of clk, grant (2 bits, one-hot or 0) is "
        "updated: if only one of req[0], req[1] is set it is granted; if both are set, the one not granted most "
        "recently wins; if none, grant is 0. After the synchronous reset, grant is 0 and requester 0 has priority "
        "on the first tie.",
        (("clk", 1), ("reset", 1), ("req", 2)), (("grant", 2),),
        "module RefModule(input clk, input reset, input [1:0] req, output reg [1:0] grant);\n"
        "  reg last;  // the requester granted most recently\n"
        "  always @(posedge clk)\n    if (reset) begin grant <= 0; last <= 1; end\n"
        "    else if (req == 2'b11) begin grant <= last ? 2'b01 : 2'b10; last <= ~last; end\n"
        "    else if (req[0]) begin grant <= 2'b01; last <= 0; end\n"
        "    else if (req[1]) begin grant <= 2'b10; last <= 1; end\n"
        "    else grant <= 0;\nendmodule\n",
        "module TopModule(input clk, input reset, input [1:0] req, output reg [1:0] grant);\n"
        "  always @(posedge clk)\n    if (reset) grant <= 0;\n"
        "    else if (req[0]) grant <= 2'b01;\n    else if (req[1]) grant <= 2'b10;\n"
        "    else grant <= 0;\nendmodule\n",
        reset="reset",
    ),
)
