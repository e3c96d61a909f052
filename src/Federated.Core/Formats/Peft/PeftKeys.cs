using System.Text.RegularExpressions;

namespace Federated.Core.Formats.Peft;

/// <summary>Tensor names PEFT uses in adapter_model.safetensors.</summary>
static partial class PeftKeys
{
    public const string Prefix = "base_model.model.";

    public static string A(string module) => $"{Prefix}{module}.lora_A.weight";
    public static string B(string module) => $"{Prefix}{module}.lora_B.weight";

    /// <summary>Recognises <c>base_model.model.&lt;module&gt;.lora_A.weight</c>, also with an adapter name (<c>lora_A.default.weight</c>).</summary>
    public static bool TryParse(string key, out string module, out bool isA)
    {
        var match = LoraKey().Match(key);
        module = match.Success ? match.Groups["module"].Value : "";
        isA = match.Success && match.Groups["factor"].Value == "A";
        return match.Success;
    }

    [GeneratedRegex(@"^base_model\.model\.(?<module>.+)\.lora_(?<factor>[AB])(?:\.[^.]+)?\.weight$", RegexOptions.CultureInvariant)]
    private static partial Regex LoraKey();
}
