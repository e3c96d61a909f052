namespace Federated.Grains;

/// <summary>The grain storage provider every persistent grain uses; the host decides what backs it (memory, files, Redis).</summary>
public static class GrainStorage
{
    public const string Name = "fl";
}
