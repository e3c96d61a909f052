using System.Text.Json.Nodes;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Tokenization;

public class HuggingFaceBpeTokenizerTests
{
    // 'Ġ' is the byte-level alphabet's stand-in for the space byte.
    static readonly string[] Vocabulary =
        ["h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor"];

    static readonly string[][] Merges =
        [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["o", "r"], ["Ġw", "or"]];

    const int BeginOfText = 15;
    const int EndOfText = 16;

    /// <summary>A Llama-3-shaped tokenizer.json: Split regex + ByteLevel without regex, merges as pairs or strings.</summary>
    static string TokenizerJson(bool mergesAsStrings = false) => new JsonObject
    {
        ["version"] = "1.0",
        ["added_tokens"] = new JsonArray(
            new JsonObject { ["id"] = BeginOfText, ["content"] = "<|begin_of_text|>", ["special"] = true },
            new JsonObject { ["id"] = EndOfText, ["content"] = "<|end_of_text|>", ["special"] = true }),
        ["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject
                {
                    ["type"] = "Split",
                    ["pattern"] = new JsonObject { ["Regex"] = HuggingFaceTokenizerJson.Gpt2SplitPattern },
                    ["behavior"] = "Isolated",
                },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false }),
        },
        ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
        ["model"] = new JsonObject
        {
            ["type"] = "BPE",
            ["vocab"] = new JsonObject(Vocabulary.Select((token, id) => KeyValuePair.Create(token, (JsonNode?)id))),
            ["merges"] = new JsonArray(Merges
                .Select(pair => mergesAsStrings ? (JsonNode)$"{pair[0]} {pair[1]}" : new JsonArray(pair[0], pair[1]))
                .ToArray()),
        },
    }.ToJsonString();

    const string Config = """{"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>"}, "pad_token": null}""";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Encodes_with_the_merges_and_decodes_back(bool mergesAsStrings)
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", TokenizerJson(mergesAsStrings));

        var tokenizer = TokenizerLoader.Load(dir.Path);

        Assert.IsType<HuggingFaceBpeTokenizer>(tokenizer);
        // "hello" merges fully; "Ġworld" -> Ġw, or, Ġwor + l + d.
        Assert.Equal([11, 14, 2, 7], tokenizer.Encode("hello world"));
        Assert.Equal("hello world", tokenizer.Decode([11, 14, 2, 7]));
    }

    [Fact]
    public void Special_tokens_come_from_added_tokens_and_tokenizer_config()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", TokenizerJson());
        dir.Write("tokenizer_config.json", Config);

        var tokenizer = TokenizerLoader.Load(dir.Path);

        Assert.Equal((BeginOfText, EndOfText, (int?)null, 17), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId, tokenizer.VocabularySize));
        Assert.Equal([BeginOfText, 11, EndOfText], tokenizer.Encode("<|begin_of_text|>hello<|end_of_text|>"));
        Assert.Equal("hello", tokenizer.Decode([BeginOfText, 11, EndOfText]));
    }

    [Fact]
    public void Without_tokenizer_config_there_are_no_special_ids()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", TokenizerJson());

        var tokenizer = TokenizerLoader.Load(dir.Path);

        Assert.Equal(((int?)null, (int?)null), (tokenizer.BosId, tokenizer.EosId));
    }

    [Fact]
    public void A_config_token_missing_from_the_vocabulary_is_a_model_format_error()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("tokenizer.json", TokenizerJson());
        dir.Write("tokenizer_config.json", """{"bos_token": "<s>"}""");

        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("'<s>'", error.Message);
    }
}
