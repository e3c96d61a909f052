namespace Federated.Deploy.Tests;

/// <summary>The repository the tests run in (found from the test assembly's location by Federated.sln).</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Federated.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"Federated.sln not found above {AppContext.BaseDirectory}");
    }
}
